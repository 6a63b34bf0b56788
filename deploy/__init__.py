"""The production topology on one machine or several: the launcher (`python -m deploy.cluster`) and the
configuration it writes from the templates beside it (docs/deployment.md)."""
