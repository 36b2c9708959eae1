"""The ProductionModel step: the registry's current version as an artifact."""
