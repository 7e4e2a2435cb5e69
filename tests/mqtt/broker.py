"""The test's own Mosquitto: :mod:`simulator.mosquitto`, shared with benches and the simulator."""

from simulator.mosquitto import (
    CONF,
    HOST,
    Broker,
    free_port,
    mosquitto_path,
    running_mosquitto,
)

__all__ = ["CONF", "HOST", "Broker", "free_port", "mosquitto_path", "running_mosquitto"]
