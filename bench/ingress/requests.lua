-- Cycles the signed requests in REQUESTS_FILE (one "ts<TAB>sig<TAB>body" a line), each thread from its
-- own offset, and prints the latency percentiles (microseconds) as one JSON line at the end.
local path = os.getenv("REQUESTS_PATH") or "/slack/commands"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  lines = {}
  for line in io.lines(os.getenv("REQUESTS_FILE")) do
    lines[#lines + 1] = line
  end
  -- threads start far apart so no two send the same request at once
  i = (id * 7919) % #lines
end

function request()
  i = i % #lines + 1
  local ts, sig, body = lines[i]:match("([^\t]*)\t([^\t]*)\t(.*)")
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Slack-Request-Timestamp"] = ts,
    ["X-Slack-Signature"] = sig,
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
