"""Sensor simulator: realistic Norwegian weather and lake curves, encoded in each vendor's exact
payload layout, encrypted with each device's own key, and delivered in the real formats of The
Things Stack v3, ChirpStack v4 and AES-GCM IP devices.

It feeds `smartby simulate` and the demo region of `smartby serve`, and gives the tests payloads
that only a faithful encoder could produce: everything it sends must survive the real decoders.

Modules: ``climate`` (pure, seeded curves), ``payloads`` (per-model encoders), ``uplinks``
(network-server JSON), ``fleet`` (demo devices and the HTTP simulator), ``demo`` (the local
demo region thread).
"""
