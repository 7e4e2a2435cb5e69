"""MQTT between gate nodes and the centre: the topic registry, payload models and docs.

Every topic is defined once, in :mod:`gateway.mqtt.topics`; publishers and
subscribers take their topic strings from it and ``docs/mqtt.md`` is generated
from it (``python -m gateway.mqtt.schema_docs``).
"""
