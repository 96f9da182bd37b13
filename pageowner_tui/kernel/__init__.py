"""What the running system offers: kernel release, tracefs, debugfs, kallsyms, kpageflags, ..."""
