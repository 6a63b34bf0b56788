// The tender form: lots and criteria rows added and removed freely, and the weights' running total.
// Without JavaScript the form still works: "Add a lot" / "Add a criterion" post the form back with one
// more empty row, and an empty row is ignored on saving.

function nextIndex(tbody) {
  let max = -1;
  for (const input of tbody.querySelectorAll("[name]")) {
    const m = /^[a-z_]+-(\d+)-/.exec(input.name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

function weightsTotal(form) {
  const out = form.querySelector("#weights-total");
  if (!out) return;
  let total = 0;
  let any = false;
  for (const input of form.querySelectorAll("[data-weight]")) {
    const text = input.value.trim().replace(/,/g, "");
    if (!text) continue;
    const value = Number(text);
    if (Number.isFinite(value)) { total += value; any = true; }
  }
  const shown = any ? Math.round(total * 100) / 100 : "—";
  out.textContent = String(shown);
  out.classList.toggle("bad", any && Math.abs(total - 100) > 1e-9);
}

function wireRow(row, form) {
  const remove = row.querySelector("[data-remove-row]");
  if (!remove) return;
  remove.hidden = false;
  remove.addEventListener("click", () => {
    const tbody = row.parentElement;
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    weightsTotal(form);
    const focus = next && next.querySelector("input, select");
    (focus || tbody.closest("fieldset").querySelector("[data-add-row]")).focus();
  });
}

function setUp(form) {
  for (const row of form.querySelectorAll("tr[data-row]")) wireRow(row, form);
  for (const button of form.querySelectorAll("[data-add-row]")) {
    button.addEventListener("click", (event) => {
      event.preventDefault();
      const kind = button.dataset.addRow;
      const tbody = form.querySelector(`table[data-rows="${kind}"] tbody`);
      const template = form.querySelector(kind === "lots" ? "#lot-row-template" : "#criterion-row-template");
      const index = String(nextIndex(tbody));
      const html = template.innerHTML.replaceAll("__i__", index);
      tbody.insertAdjacentHTML("beforeend", html);
      const row = tbody.lastElementChild;
      wireRow(row, form);
      row.querySelector("input").focus();
    });
  }
  form.addEventListener("input", (event) => {
    if (event.target.matches("[data-weight]")) weightsTotal(form);
  });
  weightsTotal(form);
}

const form = document.getElementById("tender-form");
if (form) setUp(form);
