"""The whole system as local processes, for exploration, the demo and the fault suite."""
