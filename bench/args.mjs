// The value after `name` on the bench scripts' command lines, or `fallback` when the flag is absent.
export const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
