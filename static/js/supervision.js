// The supervisor's dashboard: each chart is drawn with Chart.js from the table beside it (the table is the
// chart's data, for everyone who does not see the chart).
const Chart = window.Chart;

function number(text) {
  const value = Number(String(text).replace(/,/g, ""));
  return Number.isFinite(value) && String(text).trim() !== "—" ? value : null;
}

function rateChart(canvas) {
  const table = document.getElementById(canvas.dataset.table);
  if (!table || !Chart || !table.tBodies[0].rows.length) return;
  const rows = [...table.tBodies[0].rows];
  const heads = [...table.tHead.rows[0].cells];
  const column = (key) => rows.map((row) => {
    const cell = row.querySelector(`td[data-key="${key}"]`);
    return cell ? number(cell.textContent) : null;
  });
  const heading = (key) => {
    const index = [...rows[0].cells].findIndex((c) => c.dataset.key === key);
    return index >= 0 ? heads[index].textContent : key;
  };
  const values = column("on_time_rate");
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: rows.map((row) => row.cells[0].textContent.trim()),
      datasets: [{ label: heading("on_time_rate"), data: values }],
    },
    options: { animation: false, scales: { y: { min: 0, max: 100 } } },
  });
  canvas.dataset.drawn = "true";
  canvas.dataset.points = String(values.filter((v) => v !== null).length);
}

document.querySelectorAll("canvas[data-table]").forEach(rateChart);
