// The stylesheets the page imports for esbuild to bundle into app.css; they export nothing.
declare module '*.css' {}
