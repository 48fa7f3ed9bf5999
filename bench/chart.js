// The chart of BENCHMARKS.md, written as SVG text by the benchmark itself:
// server CPU per request, ours against the express-session contender it is
// compared with, per workload, one panel per module system.

const WIDTH = 760;
const LABEL = 190;
const BAR = 11;
const GROUP = 2 * BAR + 14;
const OURS = '#2b6cb0';
const THEIRS = '#b0b7c3';

const escape = (text) =>
  String(text).replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c],
  );

/** Pairs (ours, express-session) per system and workload, in table order. */
function pairs(rows) {
  return rows
    .filter((r) => r.baseline && r.contender === r.name && r.cpu !== null)
    .map((r) => ({
      r,
      base: rows.find(
        (b) => b.system === r.system && b.workload === r.workload && b.contender === r.baseline,
      ),
    }))
    .filter(({ base }) => base && base.cpu !== null);
}

export function chartSvg(rows, systems) {
  const all = pairs(rows);
  const max = Math.max(1, ...all.flatMap(({ r, base }) => [r.cpu, base.cpu]));
  const scale = (WIDTH - LABEL - 70) / max;
  const out = [];
  let y = 24;
  out.push(
    `<text x="${LABEL}" y="${y}" font-size="14" font-weight="bold">Server CPU µs per request (lower is better)</text>`,
  );
  y += 10;
  out.push(
    `<rect x="${LABEL}" y="${y}" width="12" height="${BAR}" fill="${OURS}"/>`,
    `<text x="${LABEL + 16}" y="${y + BAR - 1}" font-size="11">pselfastapise-async</text>`,
    `<rect x="${LABEL + 150}" y="${y}" width="12" height="${BAR}" fill="${THEIRS}"/>`,
    `<text x="${LABEL + 166}" y="${y + BAR - 1}" font-size="11">express-session (same store, same run)</text>`,
  );
  y += BAR + 16;
  for (const system of Object.keys(systems)) {
    const own = all.filter(({ r }) => r.system === system);
    if (own.length === 0) continue;
    out.push(
      `<text x="8" y="${y + 12}" font-size="13" font-weight="bold">${escape(systems[system].label)}</text>`,
    );
    y += 22;
    for (const { r, base } of own) {
      const label = `${r.workload} ${r.contender.replace(/^ours-/, '')}`;
      out.push(
        `<text x="${LABEL - 8}" y="${y + BAR + 4}" font-size="11" text-anchor="end">${escape(label)}</text>`,
      );
      for (const [i, row, color] of [
        [0, r, OURS],
        [1, base, THEIRS],
      ]) {
        const top = y + i * (BAR + 2);
        const width = Math.max(1, row.cpu * scale);
        out.push(
          `<rect x="${LABEL}" y="${top}" width="${width.toFixed(1)}" height="${BAR}" fill="${color}"/>`,
          `<text x="${(LABEL + width + 4).toFixed(1)}" y="${top + BAR - 1}" font-size="10">${Math.round(row.cpu)}${
            i === 0 && r.baseCpu !== null ? ` (${r.baseCpu.toFixed(2)}×)` : ''
          }</text>`,
        );
      }
      y += GROUP;
    }
    y += 8;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${y}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
