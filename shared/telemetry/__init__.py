"""Telemetry ingest: device payload crypto (LoRaWAN, AES-GCM envelopes) and model codecs."""
