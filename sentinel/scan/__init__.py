"""One scan end to end: the plan (``plan``) of work for every asset, the engine that runs the
probes under the scope gate's caps (``engine``), liveness sweeps (``liveness``), local-link
discovery from inside a segment (``local_discovery``), import of existing nmap results
(``nmap_import``), the finding lifecycle across scans (``lifecycle``) and the run that ties
them together with assessment, change events and the store (``run``)."""
