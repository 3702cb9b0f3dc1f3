"""How records leave the kernel: readers of the BPF ring buffer and of per-CPU
perf buffers, with one API (`Transport`). Both read the buffers' mapped memory
directly, a drain at a time, with no callback per record."""
