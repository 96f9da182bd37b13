"""Sources of owner data.  Each produces model Snapshots; nothing else knows where data comes from."""
