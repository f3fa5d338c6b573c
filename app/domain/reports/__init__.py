"""Reports for admins: volume, response and resolution times, the bot, channel switches, workload."""
