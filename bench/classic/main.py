"""The classic FastAPI + JWT login service, in its published shape: the peer `bench/serve.sh`
measures `jwtauth serve` against (SPEC §7, issue 15).

  POST /token      HTTP Basic credentials, checked with passlib's CryptContext (bcrypt);
                   {"access_token", "token_type": "bearer"}, a python-jose HS256 token with
                   sub and exp
  GET /protected   the bearer token decoded with python-jose; {"user", "message"}
  DELETE /logout   the bearer token put in an in-memory revoked set (per worker process, as
                   in the tutorials: it is lost on restart and not shared between workers)

Handlers are `async def` as published, so bcrypt runs on the event loop. The users come from
the jwtauth users file (CLASSIC_USERS, read once at start-up: the tutorial's dict), so both
services check the same hashes at the same cost; the key is JWT_SECRET_KEY, so both accept
the same tokens.

  CLASSIC_USERS=users.json JWT_SECRET_KEY=... uvicorn main:app --workers 2
"""

import json
import os
from datetime import datetime, timedelta, timezone

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials, OAuth2PasswordBearer
from jose import JWTError, jwt
from passlib.context import CryptContext

SECRET_KEY = os.environ["JWT_SECRET_KEY"]
ALGORITHM = "HS256"
ACCESS_TOKEN_EXPIRE_MINUTES = 15

with open(os.environ["CLASSIC_USERS"]) as f:
    users_db = json.load(f)["users"]

pwd_context = CryptContext(schemes=["bcrypt"], deprecated="auto")
security = HTTPBasic()
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
revoked_tokens = set()

app = FastAPI()


def verify_password(plain_password, hashed_password):
    return pwd_context.verify(plain_password, hashed_password)


def authenticate_user(username: str, password: str):
    user = users_db.get(username)
    if not user or user.get("disabled"):
        return None
    if not verify_password(password, user["hashed_password"]):
        return None
    return user


def create_access_token(data: dict, expires_delta: timedelta):
    to_encode = data.copy()
    to_encode["exp"] = datetime.now(timezone.utc) + expires_delta
    return jwt.encode(to_encode, SECRET_KEY, algorithm=ALGORITHM)


credentials_exception = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Could not validate credentials",
    headers={"WWW-Authenticate": "Bearer"},
)


@app.post("/token")
async def login(credentials: HTTPBasicCredentials = Depends(security)):
    user = authenticate_user(credentials.username, credentials.password)
    if not user:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Basic"},
        )
    access_token = create_access_token(
        data={"sub": user["username"]},
        expires_delta=timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES),
    )
    return {"access_token": access_token, "token_type": "bearer"}


@app.get("/protected")
async def protected_route(token: str = Depends(oauth2_scheme)):
    if token in revoked_tokens:
        raise credentials_exception
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
        username = payload.get("sub")
        if username is None:
            raise credentials_exception
    except JWTError:
        raise credentials_exception
    return {"user": username, "message": "This is a protected route!"}


@app.delete("/logout")
async def logout(token: str = Depends(oauth2_scheme)):
    try:
        jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
    except JWTError:
        raise credentials_exception
    revoked_tokens.add(token)
    return {"message": "Successfully logged out"}
