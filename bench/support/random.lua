-- wrk script: requests against a random one of N secrets.
--   N        how many secrets (names PREFIX0 .. PREFIX{N-1})
--   PREFIX   name prefix
--   TMPL     request path with %s for the name, e.g. /v1/secrets/%s/value
--   WRITE    "coffer" or "bao" to POST a new version instead of GET
local n = tonumber(os.getenv("N") or "1000")
local prefix = os.getenv("PREFIX") or "s"
local tmpl = os.getenv("TMPL")
local write = os.getenv("WRITE")
local counter = 0
if write ~= nil and write ~= "" then
  -- Passing a headers table to wrk.format would replace the -H headers (the token): set it here.
  wrk.headers["Content-Type"] = "application/json"
end

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

request = function()
  local name = prefix .. math.random(0, n - 1)
  local path = string.format(tmpl, name)
  if write == nil or write == "" then
    return wrk.format("GET", path)
  end
  counter = counter + 1
  local v = "bench-value-" .. counter .. "-0123456789abcdef0123456789abcdef0123456789abcdef"
  local body
  if write == "coffer" then
    body = '{"string_value":"' .. v .. '"}'
  else
    body = '{"data":{"value":"' .. v .. '"}}'
  end
  return wrk.format("POST", path, nil, body)
end
