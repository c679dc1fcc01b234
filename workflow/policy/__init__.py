"""The stage policy: which rule sets each purpose evaluates and the policy values, as a
published, versioned document (``document``), looked up as of any instant (``store``)."""
