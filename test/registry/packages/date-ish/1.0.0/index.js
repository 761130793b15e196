exports.addDays = require("./addDays");
