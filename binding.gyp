{
  "targets": [
    {
      "target_name": "berth-runtime",
      "type": "executable",
      "sources": ["src/native/launcher.c", "src/native/executor.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "berth_native",
      "sources": ["src/native/addon.c", "src/native/executor.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-stack-protector"],
      "cflags!": ["-fno-exceptions"]
    }
  ]
}
