const fs=require("fs");const f=process.argv[2];
const p=JSON.parse(fs.readFileSync(f));const byId=new Map(p.nodes.map(n=>[n.id,n]));
const parent=new Map();for(const n of p.nodes)for(const c of (n.children||[]))parent.set(c,n.id);
const dt=p.timeDeltas;const counts=new Map();p.samples.forEach((s,i)=>counts.set(s,(counts.get(s)||0)+(dt[i]||0)));
const self=new Map();const incl=new Map();let total=0;
const name=n=>n.callFrame.functionName+" "+n.callFrame.url.split("/").slice(-2).join("/")+":"+n.callFrame.lineNumber;
for(const [id,t] of counts){const n=byId.get(id);self.set(name(n),(self.get(name(n))||0)+t);total+=t;
 const seen=new Set();let cur=id;while(cur!==undefined){const k=name(byId.get(cur));if(!seen.has(k)){seen.add(k);incl.set(k,(incl.get(k)||0)+t)};cur=parent.get(cur)}}
console.log("total s",total/1e6);console.log("--self");[...self].sort((a,b)=>b[1]-a[1]).slice(0,25).forEach(([k,t])=>console.log((t/1e6).toFixed(2),k));
console.log("--inclusive");[...incl].sort((a,b)=>b[1]-a[1]).filter(([k])=>!/node_modules\/(fastify|avvio)/.test(k)).slice(0,45).forEach(([k,t])=>console.log((t/1e6).toFixed(2),k));
