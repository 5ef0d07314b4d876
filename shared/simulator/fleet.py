"""Demo devices, and the simulator that provisions them and posts their uplinks over HTTP.

FCnt continuity: a device's frame counter starts from the number of whole seconds since
FCNT_EPOCH and then counts up by one per uplink, and a device never sends more than once per
MIN_PERIOD_S second. So every FCnt a device has used is at most "seconds since the epoch at the
time it was sent", and a restarted simulator (the demo region restarts with ``smartby serve``)
always continues above every FCnt used before, whatever rate either run had. Ingest can then
treat an FCnt at or below the last one as a replay, as a LoRaWAN network server does.

Device keys are derived from (tenant, seed, DevEUI): the same fleet re-registers the same keys
after a restart, as the key store accepts a device's key only once. They are demo keys; the
simulator never prints or logs them.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Literal

import httpx

from shared.simulator.climate import (
    air_temperature,
    battery_level,
    derive_bytes,
    hashed_uniform,
    illuminance,
    lake_temperature,
    relative_humidity,
    water_level,
)
from shared.simulator.payloads import ENCODERS, Conditions
from shared.simulator.uplinks import (
    EU868_CHANNELS,
    Reception,
    Uplink,
    chirpstack_uplink,
    tts_uplink,
)
from shared.telemetry.envelope import seal_envelope
from shared.telemetry.lorawan import FrmPayloadCipher

log = logging.getLogger(__name__)

FCNT_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
MIN_PERIOD_S = 1.0  # a device sends at most once a second (and FCnt counts seconds at most)
REQUEST_TIMEOUT = 5.0  # seconds, on every request
ACCEPTED = 202
PASCAL_PER_METRE = 9_806.65  # hydrostatic pressure of fresh water per metre of depth
_MAX_WAIT_S = 5.0  # the pacing loop re-reads the clock at least this often
#: An uplink lost to the same kind of connection error is logged at most this often, with a count:
#: a server that is down would otherwise get one line per uplink.
WARN_INTERVAL_S = 10.0
_KEY_REFUSED = (401, 403)  # the ingest API's answers about the key itself, never about a message

Network = Literal["ttn", "chirpstack", "ip"]
Medium = Literal["water", "air"]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock; everything else takes the time as an argument."""
    return datetime.now(UTC)


# --- places ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    """A place sensors are deployed at; ``area`` (a slug) also seeds its climate curves."""

    name: str
    area: str
    lat: float
    lon: float
    medium: Medium
    kind: str  # Norwegian tag: innsjø, elv, skolegård, havn, torg


_SITES: dict[str, tuple[Site, ...]] = {
    "sandefjord": (
        Site("Goksjø", "goksjo", 59.1957, 10.1650, "water", "innsjø"),
        Site("Akersvannet", "akersvannet", 59.2440, 10.3290, "water", "innsjø"),
        Site("Farrisvannet", "farrisvannet", 59.0950, 9.9700, "water", "innsjø"),
        Site("Bugården ungdomsskole", "bugarden", 59.1395, 10.2120, "air", "skolegård"),
        Site("Sandefjord gjestehavn", "sentrum", 59.1285, 10.2265, "air", "havn"),
        Site("Torget", "sentrum", 59.1312, 10.2220, "air", "torg"),
    ),
    "drammen": (
        Site("Eikeren", "eikeren", 59.6150, 9.9400, "water", "innsjø"),
        Site("Glitre", "glitre", 59.8000, 10.0600, "water", "innsjø"),
        Site("Drammenselva", "drammenselva", 59.7440, 10.2050, "water", "elv"),
        Site("Marienlyst skole", "marienlyst", 59.7480, 10.1950, "air", "skolegård"),
        Site("Drammen havn", "holmen", 59.7350, 10.2250, "air", "havn"),
        Site("Bragernes torg", "sentrum", 59.7445, 10.2040, "air", "torg"),
    ),
}
_WATER_MODELS = ("elsys-elt", "dragino-lht65", "dragino-lsn50v2-d20", "decentlab-dl-ds18")
_RIVER_MODEL = "decentlab-dl-pr26"  # level and temperature in one probe
_AIR_MODELS = ("milesight-em300-th", "elsys-ers", "json")
_EUI_PREFIX = {  # vendors' IEEE OUIs; json devices use a locally administered EUI
    "milesight": "24e124",
    "elsys": "a81758fffe",
    "dragino": "a84041",
    "decentlab": "70b3d57ba0",
    "json": "02",
}
_WATER_PATTERN = (True, True, False, True, False)  # three water probes in every five devices


@dataclass(frozen=True, slots=True)
class Gateway:
    gateway_id: str
    eui: str
    lat: float
    lon: float


# --- devices ---------------------------------------------------------------------------------


@dataclass
class DemoDevice:
    """A simulated sensor: its registration, its radio, and its frame counter."""

    dev_eui: str  # 16 lower-case hex digits, the platform's canonical form (paths, envelope AAD)
    model: str
    name: str
    area: str
    medium: Medium
    lat: float
    lon: float
    site: str  # seeds the climate curves: devices at one lake see the same water
    network: Network
    key: bytes  # AppSKey (16 bytes) for LoRaWAN devices, AES-256 key (32 bytes) for json ones
    dev_addr: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    depth_m: float = 0.5  # a water probe's depth below the mean water level
    period_s: float = 600.0
    phase_s: float = 0.0  # offset of this device's slots within its period
    fcnt: int = 0  # the last FCnt used
    next_at: datetime = FCNT_EPOCH  # the next slot at which it sends

    @cached_property
    def cipher(self) -> FrmPayloadCipher:
        return FrmPayloadCipher(self.key)

    def registration(self) -> dict[str, Any]:
        """The body of ``PUT /api/tenants/{tenant}/devices/{devEui}``."""
        key_field = "aesKey" if self.network == "ip" else "appSKey"
        return {
            "model": self.model,
            "name": self.name,
            "location": {"lat": self.lat, "lon": self.lon},
            "area": self.area,
            "medium": self.medium,
            "params": dict(self.params),
            "tags": list(self.tags),
            key_field: self.key.hex(),
        }

    def conditions(self, t: datetime) -> Conditions:
        """What this device measures at ``t``."""
        in_water = self.medium == "water"
        return Conditions(
            air_temperature=air_temperature(t, self.site),
            humidity=relative_humidity(t, self.site),
            illuminance=illuminance(t, self.site, self.lat, self.lon),
            battery=battery_level(t, self.dev_eui),
            water_temperature=lake_temperature(t, self.site) if in_water else None,
            pressure=(
                PASCAL_PER_METRE * (self.depth_m + water_level(t, self.site)) if in_water else None
            ),
        )

    def schedule(self, period_s: float, phase_s: float, now: datetime) -> None:
        """Send every ``period_s`` from the next slot after ``now``; resume the FCnt above any
        counter a previous run can have used (see the module docstring)."""
        if period_s < MIN_PERIOD_S:
            raise ValueError(f"a device sends at most once every {MIN_PERIOD_S:g} s")
        self.period_s, self.phase_s = period_s, phase_s
        self.fcnt = max(self.fcnt, _seconds_counter(now))
        self.advance(now)

    def advance(self, now: datetime) -> None:
        """Move ``next_at`` to the first slot after ``now``; missed slots are skipped."""
        elapsed = (now - FCNT_EPOCH).total_seconds() - self.phase_s
        slot = math.floor(elapsed / self.period_s) + 1
        self.next_at = FCNT_EPOCH + timedelta(seconds=self.phase_s + slot * self.period_s)

    def take_fcnt(self, now: datetime) -> int | None:
        """The FCnt for an uplink at ``now``, or None if it would overtake the seconds counter
        (possible only within the first second after a start)."""
        fcnt = self.fcnt + 1
        if fcnt > _seconds_counter(now):
            return None
        self.fcnt = fcnt
        return fcnt

    def reception(self, gateway: Gateway, fcnt: int) -> tuple[Reception, int]:
        """How the gateway hears this uplink, and the spreading factor ADR settled on."""
        base_rssi = -92 + 20 * hashed_uniform(self.dev_eui, "rssi", 0)  # -112 ... -72 dBm
        rssi = round(base_rssi + 3 * hashed_uniform(self.dev_eui, "rssi-jitter", fcnt))
        snr = round(min(max((rssi + 118) / 3.5, -15.0), 10.5), 1)
        margins = ((-95, 7), (-100, 8), (-105, 9), (-110, 10))
        sf = next((sf for floor, sf in margins if base_rssi > floor), 11)
        reception = Reception(gateway.gateway_id, gateway.eui, rssi, snr, gateway.lat, gateway.lon)
        return reception, sf

    def uplink(
        self,
        payload: bytes,
        f_port: int,
        fcnt: int,
        now: datetime,
        gateway: Gateway,
        application: str,
    ) -> Uplink:
        """The uplink as the network server reports it: the payload encrypted end to end."""
        reception, sf = self.reception(gateway, fcnt)
        hop = hashed_uniform(self.dev_eui, "channel", fcnt)  # devices hop channels per uplink
        return Uplink(
            dev_eui=self.dev_eui,
            device_name=self.name,
            application=application,
            dev_addr=self.dev_addr,
            f_port=f_port,
            f_cnt=fcnt,
            frm_payload=self.cipher.encrypt(payload, self.dev_addr, fcnt),
            received_at=now,
            reception=reception,
            spreading_factor=sf,
            channel=int((hop + 1) / 2 * len(EU868_CHANNELS)),
            tags={"area": self.area, "medium": self.medium, "site": self.site},
        )


def _seconds_counter(now: datetime) -> int:
    return max(math.floor((now - FCNT_EPOCH).total_seconds() / MIN_PERIOD_S), 0)


def _unique_eui(rng: random.Random, model: str, taken: set[str]) -> str:
    prefix = _EUI_PREFIX[model.split("-")[0]]
    while True:
        bits = 4 * (16 - len(prefix))
        eui = f"{prefix}{rng.getrandbits(bits):0{16 - len(prefix)}x}"
        if eui not in taken:
            taken.add(eui)
            return eui


def make_fleet(tenant: str, count: int, seed: int) -> list[DemoDevice]:
    """A plausible municipal fleet: lake and river probes (three in five) and air sensors in
    school yards, harbours and squares, over TTN and ChirpStack, plus IP weather stations.

    Deterministic per (tenant, count, seed). Tenants without their own site list get the sites
    of the whole region.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(f"{tenant}|{seed}")  # noqa: S311 - layout, not secrets
    sites = _SITES.get(tenant) or tuple(site for group in _SITES.values() for site in group)
    water = [site for site in sites if site.medium == "water"]
    air = [site for site in sites if site.medium == "air"]
    water_models, air_models = list(_WATER_MODELS), list(_AIR_MODELS)
    for pool in (water, air, water_models, air_models):
        rng.shuffle(pool)

    devices: list[DemoDevice] = []
    names: Counter[str] = Counter()
    taken: set[str] = set()
    picks: Counter[str] = Counter()
    lorawan = 0
    for index in range(count):
        in_water = _WATER_PATTERN[index % len(_WATER_PATTERN)]
        medium: Medium = "water" if in_water else "air"
        sites_pool, models_pool = (water, water_models) if in_water else (air, air_models)
        site = sites_pool[picks[f"{medium}-site"] % len(sites_pool)]
        picks[f"{medium}-site"] += 1
        if site.kind == "elv":
            model = _RIVER_MODEL
        else:
            model = models_pool[picks[f"{medium}-model"] % len(models_pool)]
            picks[f"{medium}-model"] += 1

        dev_eui = _unique_eui(rng, model, taken)
        label = f"{site.name} {'vanntemperatur' if in_water else 'luft'}"
        names[label] += 1
        network: Network = "ip" if model == "json" else ("ttn", "chirpstack")[lorawan % 2]
        lorawan += network != "ip"
        dev_addr = 0 if network == "ip" else rng.getrandbits(25)  # NetID type 0 NwkAddr
        if network == "ttn":
            dev_addr |= 0x26000000  # TTN's NetID 0x000013 DevAddr prefix 26/7
        params: dict[str, Any] = {}
        if model == _RIVER_MODEL:
            params.update(pmin=0.0, pmax=1.0)  # bar, a 0-1 bar gauge transducer
        period = 3600.0 if in_water else 600.0  # water hourly (Drammen), air every 10 minutes
        devices.append(
            DemoDevice(
                dev_eui=dev_eui,
                model=model,
                name=label if names[label] == 1 else f"{label} {names[label]}",
                area=site.area,
                medium=medium,
                lat=round(site.lat + rng.uniform(-0.002, 0.002), 6),
                lon=round(site.lon + rng.uniform(-0.004, 0.004), 6),
                site=site.area,
                network=network,
                key=derive_bytes(32 if network == "ip" else 16, "demo-key", tenant, seed, dev_eui),
                dev_addr=dev_addr,
                params=params,
                tags=["vanntemperatur" if in_water else "lufttemperatur", site.kind],
                depth_m=1.5 if model == _RIVER_MODEL else 0.5,
                period_s=period,
                phase_s=rng.uniform(0, period),
            )
        )
    return devices


# --- HTTP -------------------------------------------------------------------------------------


class ProvisioningError(RuntimeError):
    """The API refused to set up a tenant, key or device for the simulator."""


class IngestKeyRefused(RuntimeError):
    """The ingest API refused the simulator's key: every further uplink would be refused too."""


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _describe(response: httpx.Response) -> str:
    """Status and problem title only: bodies of requests that carried keys may echo them."""
    title = ""
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("title"), str):
            title = f" {body['title'][:80]}"
    return f"HTTP {response.status_code}{title}"


def ensure_tenant(
    client: httpx.Client, admin_key: str, tenant: str, name: str, kommunenummer: str
) -> bool:
    """Create the tenant unless it exists; True if it was created."""
    response = client.post(
        "/api/tenants",
        json={"id": tenant, "name": name, "kommunenummer": kommunenummer},
        headers=_auth(admin_key),
        timeout=REQUEST_TIMEOUT,
    )
    if response.status_code in (200, 201):
        return True
    if response.status_code == 409:
        return False
    raise ProvisioningError(f"creating tenant {tenant}: {_describe(response)}")


def issue_ingest_key(
    client: httpx.Client, admin_key: str, tenant: str, name: str = "simulator"
) -> str:
    """Issue a key with the ``ingest`` scope; the response is the only time it is shown."""
    response = client.post(
        f"/api/tenants/{tenant}/keys",
        json={"name": name, "scopes": ["ingest"]},
        headers=_auth(admin_key),
        timeout=REQUEST_TIMEOUT,
    )
    if response.status_code != 201:
        raise ProvisioningError(f"issuing an ingest key for {tenant}: {_describe(response)}")
    key = response.json().get("key")
    if not isinstance(key, str):
        raise ProvisioningError(f"issuing an ingest key for {tenant}: no key in the response")
    return key


def revoke_keys_named(client: httpx.Client, admin_key: str, tenant: str, name: str) -> int:
    """Revoke the tenant's keys called ``name`` (a restarted demo's earlier keys)."""
    response = client.get(
        f"/api/tenants/{tenant}/keys", headers=_auth(admin_key), timeout=REQUEST_TIMEOUT
    )
    if response.status_code != 200:
        raise ProvisioningError(f"listing keys of {tenant}: {_describe(response)}")
    revoked = 0
    for key in response.json():
        if key.get("name") == name:
            deleted = client.delete(
                f"/api/tenants/{tenant}/keys/{key['id']}",
                headers=_auth(admin_key),
                timeout=REQUEST_TIMEOUT,
            )
            revoked += deleted.status_code == 204
    return revoked


@dataclass
class Registration:
    registered: list[str] = field(default_factory=list)  # DevEUIs
    failed: dict[str, str] = field(default_factory=dict)  # DevEUI -> status and title


@dataclass
class _HeldBack:
    """Uplinks lost to one kind of error since it was last logged, at ``logged_at``."""

    logged_at: datetime
    count: int = 0


@dataclass
class Stats:
    """Outcomes of the uplinks posted so far; ``rejected`` counts by HTTP status."""

    sent: int = 0
    accepted: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # no response: connection errors, timeouts

    def rejected_by_status(self) -> dict[int, int]:
        """A copy: the simulating thread may add a status while another thread reads."""
        return dict(self.rejected)  # one C-level copy under the GIL, no Python iteration

    def summary(self) -> str:
        rejected = self.rejected_by_status()
        by_status = ", ".join(f"{n}x{status}" for status, n in sorted(rejected.items()))
        text = f"sent {self.sent}, accepted {self.accepted}, rejected {sum(rejected.values())}"
        return text + (f" ({by_status})" if by_status else "") + f", errors {self.errors}"


class Simulator:
    """Posts one tenant's fleet's uplinks to the ingest API, each device on its own schedule.

    ``client`` carries the base URL; every request sets its own ``Authorization`` header and
    a timeout. The clock is injectable so tests decide what time it is.
    """

    def __init__(
        self,
        client: httpx.Client,
        tenant: str,
        devices: Sequence[DemoDevice],
        ingest_key: str,
        *,
        clock: Clock = utc_now,
    ) -> None:
        if not devices:
            raise ValueError("a simulator needs at least one device")
        self.client = client
        self.tenant = tenant
        self.devices = list(devices)
        self.stats = Stats()
        self._ingest_auth = _auth(ingest_key)
        self._clock = clock
        self._reported: set[int] = set()
        self._undelivered: dict[str, _HeldBack] = {}  # by the error's type name
        lat = sum(device.lat for device in self.devices) / len(self.devices)
        lon = sum(device.lon for device in self.devices) / len(self.devices)
        self._gateways = {
            network: Gateway(
                f"smartby-{tenant}-{network}-gw",
                "7076FF" + derive_bytes(5, "gateway", tenant, network).hex().upper(),
                round(lat, 5),
                round(lon, 5),
            )
            for network in ("ttn", "chirpstack")
        }
        now = clock()
        for device in self.devices:
            device.schedule(device.period_s, device.phase_s, now)

    @property
    def application(self) -> str:
        return f"smartby-{self.tenant}"

    def register(self, devices: Iterable[DemoDevice], key: str) -> Registration:
        """PUT every device (idempotent: 200 or 201 is success) with an admin or tenant-admin
        key; failures are collected, not raised, so one bad device does not stop the rest."""
        result = Registration()
        for device in devices:
            try:
                response = self.client.put(
                    f"/api/tenants/{self.tenant}/devices/{device.dev_eui}",
                    json=device.registration(),
                    headers=_auth(key),
                    timeout=REQUEST_TIMEOUT,
                )
            except httpx.HTTPError as error:
                result.failed[device.dev_eui] = type(error).__name__
                continue
            if response.status_code in (200, 201):
                result.registered.append(device.dev_eui)
            else:
                result.failed[device.dev_eui] = _describe(response)
        return result

    def pace(self, rate: float) -> None:
        """Spread the fleet evenly so that together it sends ``rate`` uplinks per second."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        period = len(self.devices) / rate
        if period < MIN_PERIOD_S:
            raise ValueError(
                f"{len(self.devices)} device(s) send at most {len(self.devices) / MIN_PERIOD_S:g}"
                " uplinks/s (each at most once a second): add devices or lower the rate"
            )
        now = self._clock()
        for index, device in enumerate(self.devices):
            device.schedule(period, period * index / len(self.devices), now)

    def next_due(self) -> datetime:
        return min(device.next_at for device in self.devices)

    def tick(self, now: datetime) -> int:
        """Post one uplink for every device whose slot has come; return how many were posted."""
        posted = 0
        for device in self.devices:
            if device.next_at > now:
                continue
            device.advance(now)
            fcnt = device.take_fcnt(now)
            if fcnt is not None:
                self._post(device, fcnt, now)
                posted += 1
        return posted

    def run(
        self, rate: float, duration: float | None = None, stop_event: threading.Event | None = None
    ) -> Stats:
        """Post at ``rate`` uplinks/s across the fleet until ``duration`` seconds have passed or
        ``stop_event`` is set."""
        self.pace(rate)
        deadline = None if duration is None else self._clock() + timedelta(seconds=duration)
        run_paced([self], stop_event or threading.Event(), self._clock, deadline)
        return self.stats

    def _message(
        self, device: DemoDevice, fcnt: int, now: datetime
    ) -> tuple[str, dict[str, Any], dict[str, str]]:
        """(path, JSON body, query) of the ingest request carrying this device's reading."""
        encoder = ENCODERS[device.model]
        payload = encoder(device.conditions(now), device.params)
        base = f"/api/tenants/{self.tenant}/ingest"
        if encoder.fport is None:
            envelope = seal_envelope(payload, device.key, self.tenant, device.dev_eui, fcnt)
            return f"{base}/device/{device.dev_eui}", envelope, {}
        gateway = self._gateways["chirpstack" if device.network == "chirpstack" else "ttn"]
        up = device.uplink(payload, encoder.fport, fcnt, now, gateway, self.application)
        if device.network == "chirpstack":
            body = chirpstack_uplink(up, tenant_name=self.tenant, device_profile_name=device.model)
            return f"{base}/chirpstack", body, {"event": "up"}
        return f"{base}/ttn", tts_uplink(up), {}

    def _post(self, device: DemoDevice, fcnt: int, now: datetime) -> None:
        path, body, query = self._message(device, fcnt, now)
        self.stats.sent += 1
        try:
            response = self.client.post(
                path, json=body, params=query, headers=self._ingest_auth, timeout=REQUEST_TIMEOUT
            )
        except httpx.HTTPError as error:
            self.stats.errors += 1
            self._warn_undelivered(device, type(error).__name__, now)
            return
        if response.status_code == ACCEPTED:
            self.stats.accepted += 1
            return
        self.stats.rejected[response.status_code] += 1
        if response.status_code in _KEY_REFUSED:
            raise IngestKeyRefused(
                f"the ingest key of {self.tenant} was refused ({_describe(response)}): "
                "revoked, or replaced by a newer run?"
            )
        if response.status_code not in self._reported:  # once per status, not once per uplink
            self._reported.add(response.status_code)
            log.warning(
                "ingest for %s answered %s (%s uplink of %s); further ones are only counted",
                self.tenant,
                _describe(response),
                device.network,
                device.dev_eui,
            )

    def _warn_undelivered(self, device: DemoDevice, error: str, now: datetime) -> None:
        """Log a lost uplink unless the same error was logged less than WARN_INTERVAL_S ago;
        those held back are counted in the next warning."""
        held = self._undelivered.get(error)
        if held is not None and (now - held.logged_at).total_seconds() < WARN_INTERVAL_S:
            held.count += 1
            return
        self._undelivered[error] = _HeldBack(now)
        if held and held.count:
            log.warning(
                "uplink of %s not delivered: %s (and %d more since the last such warning)",
                device.dev_eui, error, held.count,
            )
        else:
            log.warning(
                "uplink of %s not delivered: %s (shown again at most every %g s, with a count)",
                device.dev_eui, error, WARN_INTERVAL_S,
            )


def run_paced(
    simulators: Sequence[Simulator],
    stop: threading.Event,
    clock: Clock,
    deadline: datetime | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> None:
    """Tick every simulator whenever its next device is due, until ``stop`` or ``deadline``.

    With ``on_error``, an unexpected failure of one tick is reported there and the loop goes
    on (the demo region must never take the server down), without the simulators whose ingest
    key was refused; without it, it propagates.
    """
    active = list(simulators)
    while not stop.is_set():
        now = clock()
        if deadline is not None and now >= deadline:
            return
        for simulator in list(active):
            try:
                simulator.tick(now)
            except Exception as error:
                if on_error is None:
                    raise
                on_error(error)
                if isinstance(error, IngestKeyRefused):
                    active.remove(simulator)
        if not active:
            return
        due = min(simulator.next_due() for simulator in active)
        if deadline is not None:
            due = min(due, deadline)
        stop.wait(min(max((due - clock()).total_seconds(), 0.0), _MAX_WAIT_S))
