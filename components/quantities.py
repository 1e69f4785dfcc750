"""Kubernetes resource quantities (`512Mi`, `20Gi`, `500m`, `2`): their amounts, and Docker's reading of them.

Pure (no Pulumi SDK). The first part is target-neutral (Prometheus' retention size cap, for one). The
second part is the Docker provider's: the units and exact text it keeps in its state. It lives here
rather than under components/targets/ because the settings import it as well, to refuse, one line per
key, a limit the provider would read back differently (a replacement on every `pulumi up`), and the
settings cannot import components.targets, whose package imports the settings.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# --- Kubernetes quantities ---------------------------------------------------------------------

_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory or storage quantity (validated by the settings) in bytes."""
    number = quantity.rstrip("kKMGTPEi")
    return int(float(number) * _UNITS[quantity[len(number):]])


def cpu_cores(quantity: str) -> Decimal:
    """A Kubernetes CPU quantity (`500m`, `2`; validated by the settings) in cores, exactly."""
    return Decimal(quantity[:-1]).scaleb(-3) if quantity.endswith("m") else Decimal(quantity)


# --- Docker: what the Docker provider sends and reads back --------------------------------------

def memory_mib(quantity: str) -> int:
    """A Kubernetes memory quantity (validated by the settings) in MiB, Docker's `memory` unit."""
    return max(6, quantity_bytes(quantity) // 2**20)  # Docker's minimum is 6 MiB


def _cpus_read_back(nano: int) -> str:
    """How the Docker provider writes NanoCPUs into its state (its `nanoInt64ToDecimalString`, quirks included)."""
    if nano == 0:
        return "0"
    nine = f"{Decimal(nano).scaleb(-9):.9f}"  # big.Rat.FloatString(9)
    if nine.count("0") == 9:
        # Upstream then rounds to one decimal: "1.0", "2.0", but also 0.05 -> "0.1" and 0.001 -> "0.0".
        return f"{Decimal(nano).scaleb(-9).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}"
    return nine.rstrip("0")  # "10." for ten CPUs: odd, but it parses back to the same value


def cpus(quantity: str) -> str:
    """A Kubernetes CPU quantity (`500m`, `2`) as Docker's `cpus`, in the exact text the provider reads back.

    `cpus` is ForceNew and the provider stores what it reads from the daemon, not what it was sent
    (kreuzwerker/terraform-provider-docker@v4.5.0 internal/provider/resource_docker_container.go: `cpus` ForceNew;
    resource_docker_container_funcs.go: `d.Set("cpus", nanoInt64ToDecimalString(HostConfig.NanoCPUs))`;
    helpers.go: `nanoInt64ToDecimalString`). Sending "1" where it reads back "1.0" replaces the container on
    every `pulumi up`, so send the read-back text itself.
    """
    nano = cpu_cores(quantity).scaleb(9)
    if nano != nano.to_integral_value():
        raise ValueError(f"CPU limit {quantity!r}: Docker takes at most nine decimal places of a CPU")
    text = _cpus_read_back(int(nano))
    if Decimal(text).scaleb(9) != nano:
        # The provider would read back another amount: every `pulumi up` would replace the container.
        raise ValueError(f"CPU limit {quantity!r}: the Docker provider reads it back as {text!r} and would "
                         f"replace the container on every `pulumi up`; choose a limit it keeps, such as 100m or 250m")
    return text
