// Staff dashboard: weekly MAE per model version, one line each.
(function () {
  "use strict";
  const COLORS = ["#4f46e5", "#f97066", "#32d583", "#fdb022", "#36bffa", "#9e77ed"];
  function draw() {
    const canvas = document.getElementById("dashboard-chart");  // absent: no answers to draw
    const series = JSON.parse(document.getElementById("dashboard-series").textContent);
    const weeks = [...new Set(Object.values(series).flat().map((point) => point.week))].sort();
    if (!window.Chart || !canvas || !weeks.length) return;
    const datasets = Object.entries(series).map(([version, points], i) => {
      const byWeek = Object.fromEntries(points.map((point) => [point.week, point]));
      return { label: version, data: weeks.map((week) => (byWeek[week] ? byWeek[week].mae : null)),
        borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length], spanGaps: true, tension: 0.2,
        pointRadius: 4, pointHoverRadius: 6 };
    });
    // offset: a single week is drawn mid-axis, not on the y axis; the legend shows each line's
    // point, not a bar's box, since a week may be one point alone.
    new window.Chart(canvas, { type: "line", data: { labels: weeks, datasets: datasets },
      options: { maintainAspectRatio: false, animation: false,
        plugins: { legend: { labels: { usePointStyle: true, pointStyle: "circle", boxHeight: 8 } } },
        scales: { y: { beginAtZero: true, title: { display: true, text: "MAE (years)" } },
          x: { offset: true, title: { display: true, text: "week of" } } } } });
  }
  if (document.readyState === "complete") draw(); else window.addEventListener("load", draw);
})();
