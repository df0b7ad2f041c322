"""One plain function per user action: takes a config, returns data, prints nothing."""
