/** The device and dtype options of both loaders. */
export type DeviceOption = "auto" | "cpu" | "cuda" | `cuda:${number}`;
export type DtypeOption = "float32" | "float16" | "bfloat16";
