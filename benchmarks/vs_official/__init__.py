"""Against the official code: side-by-side timings and the golden float64 checks on another device."""
