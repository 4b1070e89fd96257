"""Pure protocol adapters: provider frame text in, typed event out; command in, text out."""
