"""Document history: versions, who wrote what, restore and retention."""
