// Shows the platform's health on the front page; text is set with textContent only.
(async function () {
  const status = document.getElementById("status");
  const checks = document.getElementById("checks");
  try {
    const response = await fetch("/api/health", { headers: { Accept: "application/json" } });
    const health = await response.json();
    status.textContent = health.status === "ok" ? "i drift (ok)" : "redusert (degraded)";
    status.dataset.state = health.status;
    for (const [name, check] of Object.entries(health.checks)) {
      const item = document.createElement("li");
      item.textContent = `${name}: ${check.status} (${check.adapter}, ${check.latency_ms} ms)`;
      item.dataset.check = name;
      checks.appendChild(item);
    }
  } catch (error) {
    status.textContent = "utilgjengelig";
    status.dataset.state = "error";
  }
})();
