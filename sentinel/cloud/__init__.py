"""Cloud tenants as their cloud's API declares them: an inventory model and its providers.

A way of seeing, beside ``probes/``: a provider reads what a cloud says (raw API bodies dumped
by an operator, or the API itself through the provider's SDK) into a :class:`Inventory`;
:func:`sentinel.cloud.resources.resources` turns it into per-resource facts that the
``CLOUD-`` assessor (``sentinel/assess/cloud.py``) judges. Nothing here sends a packet to a
scanned network; ``collect`` talks only to the cloud's API endpoints that clouds.yaml names.
"""
