// The cash-release dashboard's charts, drawn with Chart.js (from the npm registry, see the Makefile's
// assets target) from data the page carries in data- attributes and its breakdown table.
const Chart = window.Chart;

function number(text) {
  const value = Number(String(text).replace(/,/g, ""));
  return Number.isFinite(value) ? value : null;
}

function monthsChart() {
  const canvas = document.getElementById("chart-months");
  if (!canvas || !Chart) return;
  const data = (name) => JSON.parse(canvas.dataset[name] || "[]").map(number);
  const names = JSON.parse(canvas.dataset.names || "{}");
  new Chart(canvas, {
    data: {
      labels: JSON.parse(canvas.dataset.labels || "[]"),
      datasets: [
        { type: "bar", label: names.guaranteed, data: data("guaranteed"), stack: "cover", yAxisID: "y" },
        { type: "bar", label: names.waived, data: data("waived"), stack: "cover", yAxisID: "y" },
        { type: "bar", label: names.cash, data: data("cash"), stack: "cover", yAxisID: "y" },
        { type: "line", label: names.rate, data: data("rate"), yAxisID: "rate" },
      ],
    },
    options: {
      animation: false,
      scales: {
        y: { stacked: true, beginAtZero: true },
        rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } },
      },
    },
  });
  canvas.dataset.drawn = "true";
}

function breakdownChart() {
  const canvas = document.getElementById("chart-breakdown");
  const table = document.getElementById("breakdown");
  if (!canvas || !table || !Chart) return;
  const heads = [...table.tHead.rows[0].cells];
  const column = (key) => [...table.tBodies[0].rows].map((row) => {
    const cell = row.querySelector(`td[data-key="${key}"]`);
    return cell ? number(cell.textContent) : null;
  });
  const heading = (key) => {
    const index = [...table.tBodies[0].rows[0].cells].findIndex((c) => c.dataset.key === key);
    return index >= 0 ? heads[index].textContent : key;
  };
  const labels = [...table.tBodies[0].rows].map((row) => row.cells[0].textContent);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: heading("released_liquidity"), data: column("released_liquidity") },
        { label: heading("cash"), data: column("cash") },
      ],
    },
    options: { animation: false, indexAxis: labels.length > 8 ? "y" : "x" },
  });
  canvas.dataset.drawn = "true";
}

monthsChart();
breakdownChart();
