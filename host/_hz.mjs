const [url, secs, conc] = [process.argv[2], +process.argv[3], +process.argv[4]];
let n = 0,
  stop = Date.now() + secs * 1000;
await Promise.all(
  Array.from({ length: conc }, async () => {
    while (Date.now() < stop) {
      await (await fetch(url)).text();
      n++;
    }
  }),
);
console.log("healthz rps", (n / secs).toFixed(0));
