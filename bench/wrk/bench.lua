-- wrk script for bench/serve.sh. The request comes from the environment:
--   WRK_METHOD  the method (default GET)
--   WRK_BASIC   base64 of "user:password": sent as `Authorization: Basic …` (POST /token)
-- Other headers (bearer token, cookie) are given with wrk -H.
-- When the run is done it prints one line, `wrk-json {...}`: requests, seconds, requests per
-- second, latency percentiles in ms, and the error counts (status = non-2xx/3xx answers).
local method = os.getenv("WRK_METHOD")
if method and method ~= "" then
  wrk.method = method
end
local basic = os.getenv("WRK_BASIC")
if basic and basic ~= "" then
  wrk.headers["Authorization"] = "Basic " .. basic
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'wrk-json {"requests": %d, "secs": %.6f, "rps": %.3f, "p50_ms": %.4f, "p90_ms": %.4f, ' ..
    '"p99_ms": %.4f, "max_ms": %.4f, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
