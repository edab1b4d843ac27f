"""The Braze REST client on httpx. The only engine module that imports httpx."""
