using LoraSqueeze.Cli;

return CliApp.Build().Parse(args).Invoke();
