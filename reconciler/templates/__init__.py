"""Braze Liquid: parse, check references and render previews of webhook templates."""
