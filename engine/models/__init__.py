"""Model store, strict checkpoint loading, devices, and one sub-package per model family."""
