# Not a second build system: node-gyp (and installers that call it) run the CMake build through cmake-js.
{
  "targets": [
    {
      "target_name": "inseq",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_js_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["build/Release/inseq.node"],
          "action": ["node", "scripts/cmake-js-as-node-gyp.cjs"]
        }
      ]
    }
  ]
}
