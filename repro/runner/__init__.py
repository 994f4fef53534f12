"""The runner: talks to the container engine, resolves pinned images, runs one container."""
