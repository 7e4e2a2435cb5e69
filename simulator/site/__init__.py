"""The simulated complex: people, crowd, door physics, N real gate nodes, ground truth."""
