module.exports = function addDays(days, n) {
  return days + n;
};
