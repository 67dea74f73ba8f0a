{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": ["src/native/addon.c", "src/native/executor.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-stack-protector"],
      "cflags!": ["-fno-exceptions"]
    }
  ]
}
