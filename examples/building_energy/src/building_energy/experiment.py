"""The experiment: a daily degree-day model of one building, driven by its weather file.

Scythe calls `simulate` once per row of a design: on this machine (`scythe run`, the embedded
backend) or on workers running this project's image (the Hatchet backend).
"""

from __future__ import annotations

import csv
import functools

import pandas as pd
from scythe.registry import ExperimentRegistry

from building_energy.specs import BuildingEnergyInput, BuildingEnergyOutput

ENVELOPE_PER_FLOOR = 1.6  # m2 of envelope per m2 of floor
LIGHTING_HOURS = 2600.0  # h/yr
EQUIPMENT_W_PER_M2 = 8.0
EQUIPMENT_HOURS = 3000.0
ECONOMIZER_SAVING = {"NoEconomizer": 0.0, "DifferentialDryBulb": 0.15, "DifferentialEnthalpy": 0.25}


@functools.lru_cache(maxsize=16)
def read_weather(path: str) -> list[float]:
    """Daily dry-bulb temperatures; cached, since thousands of specs share a few weather files."""
    with open(path, newline="") as fh:
        return [float(row["dry_bulb_c"]) for row in csv.DictReader(fh)]


@ExperimentRegistry.Register(name="building_energy", retries=1, timeout=120)
def simulate(input_spec: BuildingEnergyInput) -> BuildingEnergyOutput:
    """Annual heating, cooling and auxiliary energy per floor area [kWh/m2]."""
    temperatures = read_weather(str(input_spec.fetch(input_spec.weather_file)))
    u_value = 1.0 / input_spec.r_value  # W/m2K
    gains = (input_spec.lpd * LIGHTING_HOURS + EQUIPMENT_W_PER_M2 * EQUIPMENT_HOURS) / 365.0 / 24.0
    balance = gains / (u_value * ENVELOPE_PER_FLOOR)  # K of free heating from internal gains
    heating_days = [max(0.0, input_spec.setpoint - balance - t) for t in temperatures]
    cooling_days = [max(0.0, t + balance - input_spec.setpoint - 4.0) for t in temperatures]
    per_kelvin_day = u_value * ENVELOPE_PER_FLOOR * 24.0 / 1000.0  # kWh/m2 per K·day
    heating = sum(heating_days) * per_kelvin_day
    economizer = 1.0 - ECONOMIZER_SAVING[input_spec.economizer]
    cooling = sum(cooling_days) * per_kelvin_day * economizer / 3.0
    monthly = pd.DataFrame(
        {
            "month": [min(d * 12 // 365, 11) + 1 for d in range(len(temperatures))],
            "heating": [h * per_kelvin_day for h in heating_days],
            "cooling": [c * per_kelvin_day / 3.0 for c in cooling_days],
        }
    )
    return BuildingEnergyOutput(
        heating=heating,
        cooling=cooling,
        lighting=input_spec.lpd * LIGHTING_HOURS / 1000.0,
        equipment=EQUIPMENT_W_PER_M2 * EQUIPMENT_HOURS / 1000.0,
        fans=0.08 * (heating + cooling),
        pumps=0.03 * heating,
        dataframes={"monthly": monthly.groupby("month").sum()},  # gathered into final/monthly.pq
    )
