using System.Globalization;
using LoraSqueeze.PeerBench;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
return await PeerBenchCli.Build().Parse(args).InvokeAsync();
