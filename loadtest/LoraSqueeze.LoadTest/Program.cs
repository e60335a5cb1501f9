using LoraSqueeze.LoadTest;

return await LoadTestCli.Build().Parse(args).InvokeAsync();
