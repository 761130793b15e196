const [url, key, secs, conc, mode] = [
  process.argv[2],
  process.argv[3],
  +process.argv[4],
  +process.argv[5],
  process.argv[6],
];
let n = 0,
  lat = [],
  stop = Date.now() + secs * 1000,
  errs = 0;
async function worker(w) {
  let i = 0;
  while (Date.now() < stop) {
    const t = performance.now();
    const code = mode === "fresh" ? `// ${w}-${i++}-${Math.random()}\n1+1` : "1+1";
    const r = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ code }),
    });
    const j = await r.json();
    if (j.result !== 2) {
      errs++;
      if (errs < 3) console.log(JSON.stringify(j).slice(0, 300));
    }
    lat.push(performance.now() - t);
    n++;
  }
}
await Promise.all(Array.from({ length: conc }, (_, w) => worker(w)));
lat.sort((a, b) => a - b);
console.log(
  mode,
  "rps",
  (n / secs).toFixed(0),
  "p50",
  lat[Math.floor(n * 0.5)].toFixed(1),
  "p99",
  lat[Math.floor(n * 0.99)].toFixed(1),
  "errs",
  errs,
);
