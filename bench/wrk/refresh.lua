-- wrk script for bench/serve.sh's refresh rows (SPEC §7, §13): `POST /token` with
-- `grant_type=refresh_token`, each connection chaining its own refresh tokens.
--
--   WRK_REFRESH_TOKENS  a file of refresh tokens, one a line, one per wrk thread (each from a
--                       password login done before the run: bench/tool.py login-tokens)
--
-- Run it with one connection per thread (`wrk -t N -c N`): the token to spend next is the
-- thread's, taken from the previous answer, so a thread's requests must not overlap. Any
-- answer but 200 breaks the chain (the next request would spend a spent token, which ends
-- the session): it counts as an error (wrk's non-2xx count, which fails the run in
-- bench/tool.py wrk-json) and the thread stops. Reports like bench/wrk/bench.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "bench.lua")

local threads = {}
local tokens = {}

function setup(thread)
  if #tokens == 0 then
    local path = os.getenv("WRK_REFRESH_TOKENS")
    local f = path and io.open(path, "r")
    if not f then
      error("refresh.lua: WRK_REFRESH_TOKENS names no readable file")
    end
    for line in f:lines() do
      if line ~= "" then
        tokens[#tokens + 1] = line
      end
    end
    f:close()
  end
  local n = #threads + 1
  if not tokens[n] then
    error("refresh.lua: more threads than refresh tokens (" .. #tokens .. ")")
  end
  threads[n] = thread
  thread:set("token", tokens[n])
  thread:set("refreshes", 0)
end

-- Thread state (the globals set by setup).
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  -- A refresh token is base64url: no form escaping needed.
  return wrk.format("POST", nil, headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, hdrs, body)
  local next_token = status == 200 and body:match('"refresh_token"%s*:%s*"([A-Za-z0-9_-]+)"')
  if next_token then
    token = next_token
    refreshes = refreshes + 1
  else
    broken = (broken or 0) + 1
    wrk.thread:stop()
  end
end

local report = done
function done(summary, latency, requests)
  local chained, broken = 0, 0
  for _, t in ipairs(threads) do
    chained = chained + (t:get("refreshes") or 0)
    broken = broken + (t:get("broken") or 0)
  end
  io.write(string.format("refresh chains: %d threads, %d refreshes, %d broken\n", #threads,
    chained, broken))
  -- A 200 without a refresh token broke a chain too: it fails the run like a non-2xx.
  summary.errors.status = summary.errors.status + broken
  report(summary, latency, requests)
end
