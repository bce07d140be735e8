// Staff dashboard: weekly MAE per model version, one line each.
(function () {
  "use strict";
  const COLORS = ["#4f46e5", "#f97066", "#32d583", "#fdb022", "#36bffa", "#9e77ed"];
  function draw() {
    const series = JSON.parse(document.getElementById("dashboard-series").textContent);
    const weeks = [...new Set(Object.values(series).flat().map((point) => point.week))].sort();
    if (!window.Chart || !weeks.length) return;
    const datasets = Object.entries(series).map(([version, points], i) => {
      const byWeek = Object.fromEntries(points.map((point) => [point.week, point]));
      return { label: version, data: weeks.map((week) => (byWeek[week] ? byWeek[week].mae : null)),
        borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length], spanGaps: true, tension: 0.2 };
    });
    new window.Chart(document.getElementById("dashboard-chart"), { type: "line", data: { labels: weeks, datasets: datasets },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, title: { display: true, text: "MAE (years)" } },
        x: { offset: true, title: { display: true, text: "week of" } } } } });  // offset: one week is drawn mid-axis, not on the y axis
  }
  if (document.readyState === "complete") draw(); else window.addEventListener("load", draw);
})();
