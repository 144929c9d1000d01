// Vite's client types (import.meta.env) for the app's sources.
/// <reference types="vite/client" />
