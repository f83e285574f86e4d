-- wrk script: the whole sign-in flow, repeated. Run with as many threads as connections
-- (-t N -c N): each thread then owns one connection and walks the three steps in turn:
--   1. GET  /authorize  -> the sign-in page (CSRF token, pending request)
--   2. POST /login      -> 303 back to the client with a code (first-party: no consent)
--   3. POST /token      -> access token and signed ID token
-- The session cookie is dropped after each flow, so every flow gives the password again.
-- Settings come from the environment (see benches/load.sh).

local authorize_path = os.getenv("FLOW_AUTHORIZE_PATH")
local redirect_uri = os.getenv("FLOW_REDIRECT_URI")
local username = os.getenv("FLOW_USERNAME")
local password = os.getenv("FLOW_PASSWORD")
local verifier = os.getenv("FLOW_VERIFIER")
local basic = os.getenv("FLOW_BASIC")

local step, csrf_cookie, csrf, pending, code = 1, nil, nil, nil, nil

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function unescape(s)
  return (s:gsub("&#x3D;", "="):gsub("&quot;", '"'):gsub("&#x27;", "'"):gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&"))
end

local function header(headers, name)
  return headers[name] or headers[name:lower()]
end

local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }

request = function()
  if step == 1 then
    local h = {}
    if csrf_cookie then h["Cookie"] = csrf_cookie end
    return wrk.format("GET", authorize_path, h)
  elseif step == 2 then
    local body = "csrf_token=" .. urlencode(csrf) .. "&request=" .. urlencode(pending)
      .. "&username=" .. urlencode(username) .. "&password=" .. urlencode(password)
    return wrk.format("POST", "/login", { ["Content-Type"] = form["Content-Type"], ["Cookie"] = csrf_cookie }, body)
  else
    local body = "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. urlencode(redirect_uri)
      .. "&code_verifier=" .. verifier
    return wrk.format("POST", "/token", { ["Content-Type"] = form["Content-Type"], ["Authorization"] = basic }, body)
  end
end

response = function(status, headers, body)
  if step == 1 then
    local set_cookie = header(headers, "Set-Cookie")
    if set_cookie then csrf_cookie = set_cookie:match("^([^;]+)") end
    csrf = body:match('name="csrf_token" value="([^"]*)"')
    pending = body:match('name="request" value="([^"]*)"')
    if status ~= 200 or not csrf or not pending then error("step 1: status " .. status) end
    pending = unescape(pending)
    step = 2
  elseif step == 2 then
    local location = header(headers, "Location") or ""
    code = location:match("[?&]code=([^&]+)")
    if status ~= 303 or not code then error("step 2: status " .. status) end
    step = 3
  else
    if status ~= 200 then error("step 3: status " .. status) end
    step = 1
  end
end
